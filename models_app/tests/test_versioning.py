import pytest

from models_app.versioning import VersionError, next_version, parse_version


def test_it_orders_versions_numerically_not_as_text():
    assert parse_version("1.10.0") > parse_version("1.9.0")
    assert sorted(["1.10.0", "1.9.0", "1.2.3"], key=parse_version) == ["1.2.3", "1.9.0", "1.10.0"]


@pytest.mark.parametrize(
    ("latest", "bump", "expected"),
    [
        ("1.9.3", "patch", "1.9.4"),
        ("1.9.3", "minor", "1.10.0"),
        ("1.9.3", "major", "2.0.0"),
        (None, "minor", "1.0.0"),
        (None, "patch", "1.0.0"),
    ],
)
def test_it_bumps_from_the_latest(latest, bump, expected):
    parsed = parse_version(latest) if latest else None
    assert str(next_version(parsed, bump)) == expected


@pytest.mark.parametrize("text", ["1.0", "v1.0.0", "1.0.0.0", "one", "", "1.0.0-rc.1", "1.0.0+b1"])
def test_it_refuses_what_is_not_plain_semver(text):
    with pytest.raises(VersionError) as error:
        parse_version(text)
    assert "MAJOR.MINOR.PATCH" in str(error.value)


def test_it_refuses_an_unknown_bump():
    with pytest.raises(VersionError, match="Unknown bump"):
        next_version(parse_version("1.0.0"), "huge")
