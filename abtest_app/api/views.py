from __future__ import annotations

import dataclasses

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from abtest_app import assignment, power, selectors, services
from abtest_app.api import queries as q
from abtest_app.api import serializers as s
from abtest_app.authentication import OutcomeTokenAuthentication, SignedInOrOutcomeToken
from abtest_app.choices import Arm
from abtest_app.errors import InvalidABTest
from abtest_app.filtersets import ABTestFilterSet
from abtest_app.models import ABTest, OutcomeToken
from axion_registry.authentication import CachedTokenAuthentication
from axion_registry.errors import InvalidInput
from axion_registry.filters import query_params_valid


class ABTestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Champion/challenger tests. Any signed-in user may create and read them; start, pause,
    conclude and cancel need the test's creator or a release manager (starting a test on a
    model in production, or with auto_promote, a release manager); outcomes come from the
    creator, a release manager or an outcome token made for the test."""

    serializer_class = s.ABTestSerializer
    filterset_class = ABTestFilterSet
    lookup_value_regex = r"\d+"
    queryset = ABTest.objects.select_related(
        "model", "champion", "challenger", "created_by", "ended_by"
    )

    def get_object(self) -> ABTest:
        return selectors.abtest_get(test_id=self.kwargs["pk"])

    @extend_schema(request=s.ABTestInputSerializer, responses={201: s.ABTestSerializer})
    def create(self, request: Request) -> Response:
        data = s.ABTestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        test = services.abtest_create(created_by=request.user, **data.validated_data)
        test = selectors.abtest_get(test_id=test.pk)
        return Response(self.get_serializer(test).data, status=status.HTTP_201_CREATED)

    def _transition(self, request: Request, service, **extra) -> Response:
        data = s.ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if service in (services.abtest_conclude, services.abtest_cancel):
            extra["reason"] = data.validated_data["reason"]
        service(test=self.get_object(), actor=request.user, **extra)
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=None, responses=s.ABTestSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str) -> Response:
        """Start a draft test or resume a paused one (409 if another test of the model runs)."""
        return self._transition(request, services.abtest_start)

    @extend_schema(request=None, responses=s.ABTestSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        """Stop routing traffic to the challenger; outcomes are still accepted."""
        return self._transition(request, services.abtest_pause)

    @extend_schema(request=s.ReasonSerializer, responses=s.ABTestSerializer)
    @action(detail=True, methods=["post"])
    def conclude(self, request: Request, pk: str) -> Response:
        """End the test by hand with a reason; a final snapshot records the evidence."""
        return self._transition(request, services.abtest_conclude)

    @extend_schema(request=s.ReasonSerializer, responses=s.ABTestSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Abandon the test without a decision."""
        return self._transition(request, services.abtest_cancel)

    @extend_schema(parameters=[q.AssignQuery], responses=s.AssignmentSerializer)
    @action(detail=True, methods=["get"])
    def assign(self, request: Request, pk: str) -> Response:
        """The unit's arm: deterministic and sticky (the same unit always gets the same arm)."""
        unit_id = query_params_valid(q.AssignQuery, request.query_params,
                                     code="invalid_unit_id")["unit_id"]
        test = self.get_object()
        arm = assignment.assign_arm(test.seed, unit_id, test.challenger_share,
                                     test.assignment_rule)
        version = test.challenger if arm == Arm.CHALLENGER else test.champion
        return Response({
            "test_id": test.pk,
            "unit_id": unit_id,
            "arm": arm,
            "version": version.version,
            "version_id": version.pk,
            "bucket": assignment.bucket(test.seed, unit_id),
            "state": test.state,
        })

    @extend_schema(request=s.OutcomeBatchSerializer, responses=s.OutcomeReceiptSerializer)
    @action(
        detail=True, methods=["post"],
        authentication_classes=[OutcomeTokenAuthentication, CachedTokenAuthentication,
                                SessionAuthentication],
        permission_classes=[SignedInOrOutcomeToken],
    )
    def outcomes(self, request: Request, pk: str) -> Response:
        """Record outcomes: {"outcomes": [...]} (up to 10,000) or one outcome object.

        The arm is derived from unit_id by the test's assignment. A repeated outcome_id is
        ignored (counted in "duplicates"), so a retried post does not double count.
        """
        body = request.data
        if isinstance(body, dict) and "outcomes" in body:
            items = body["outcomes"]
        elif isinstance(body, dict) and "unit_id" in body:
            items = [body]
        else:
            raise InvalidInput(
                'Send {"outcomes": [{"unit_id": ..., "value": ...}, ...]} or one outcome '
                "object.",
                code="invalid_outcomes",
            )
        test = selectors.abtest_get(test_id=pk, related=False)
        token = request.auth if isinstance(request.auth, OutcomeToken) else None
        receipt = services.abtest_record_outcomes(
            test=test, outcomes=items, actor=None if token else request.user, token=token
        )
        return Response(receipt.as_dict())

    @extend_schema(methods=["get"], request=None, responses=s.OutcomeTokenSerializer(many=True))
    @extend_schema(methods=["post"], request=s.OutcomeTokenInputSerializer,
                   responses={201: s.IssuedOutcomeTokenSerializer})
    @action(detail=True, methods=["get", "post"], url_path="outcome-tokens", pagination_class=None,
            filter_backends=[])
    def outcome_tokens(self, request: Request, pk: str) -> Response:
        """Tokens that post outcomes to this test only (creator or release manager). A new
        token's key is in the answer once; only its hash is kept."""
        test = self.get_object()
        if request.method == "GET":
            services.require_manager(test, request.user, "list the outcome tokens of")
            return Response(s.OutcomeTokenSerializer(test.outcome_tokens.all(), many=True).data)
        data = s.OutcomeTokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.outcome_token_create(test=test, name=data.validated_data["name"],
                                               actor=request.user)
        body = {**s.OutcomeTokenSerializer(issued.token).data, "token": issued.key}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.OutcomeTokenSerializer)
    @action(detail=True, methods=["post"],
            url_path=r"outcome-tokens/(?P<token_id>\d+)/revoke")
    def outcome_token_revoke(self, request: Request, pk: str, token_id: str) -> Response:
        """Revoke a token: it stops working at once."""
        token = services.outcome_token_revoke(test=self.get_object(), token_id=int(token_id),
                                              actor=request.user)
        return Response(s.OutcomeTokenSerializer(token).data)

    @extend_schema(responses=s.ResultsSerializer)
    @action(detail=True, methods=["get"])
    def results(self, request: Request, pk: str) -> Response:
        """The evaluation now (running or paused test) or the last snapshot, with history."""
        results = selectors.abtest_results(test=self.get_object())
        return Response(s.ResultsSerializer(results, context={"request": request}).data)

    @extend_schema(parameters=[s.SampleSizeQuerySerializer], responses=s.SampleSizeSerializer)
    @action(detail=False, methods=["get"], url_path="sample-size")
    def sample_size(self, request: Request) -> Response:
        """Units needed to detect `mde` with `power` at `alpha` (give sd or baseline_rate),
        solved at the split `challenger_share` (statsmodels' solve_power with ratio)."""
        params = _query(s.SampleSizeQuerySerializer, request)
        try:
            equal = power.sample_size(
                mde=params["mde"], sd=params.get("sd"), baseline_rate=params.get("baseline_rate"),
                alpha=params["alpha"], power=params["power"],
            )
            plan = power.sample_size(
                mde=params["mde"], sd=params.get("sd"), baseline_rate=params.get("baseline_rate"),
                alpha=params["alpha"], power=params["power"],
                challenger_share=params["challenger_share"],
            )
        except ValueError as exc:
            raise InvalidABTest(f"{exc}.", code="invalid_sample_size") from exc
        return Response({
            "n_per_arm": equal.n_champion,
            "n_total": plan.n_total,
            "n_champion": plan.n_champion,
            "n_challenger": plan.n_challenger,
            "n_champion_exact": plan.n_champion_exact,
            "effect_size": plan.effect_size,
            "alpha": plan.alpha,
            "power": plan.power,
            "challenger_share": params["challenger_share"],
        })

    @extend_schema(parameters=[s.DetectableEffectQuerySerializer],
                   responses=s.DetectableEffectSerializer)
    @action(detail=False, methods=["get"], url_path="mde")
    def mde(self, request: Request) -> Response:
        """The smallest increase that n_champion and n_challenger units detect with `power`
        at `alpha` (give sd or baseline_rate; baseline_mean adds the relative mde)."""
        params = _query(s.DetectableEffectQuerySerializer, request)
        try:
            effect = power.minimum_detectable_effect(**params)
        except ValueError as exc:
            raise InvalidABTest(f"{exc}.", code="invalid_mde") from exc
        return Response(dataclasses.asdict(effect))


def _query(serializer: type[serializers.Serializer], request: Request) -> dict:
    query = serializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return dict(query.validated_data)
