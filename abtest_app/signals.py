from django.dispatch import Signal

# Sent after commit when a test starts, pauses, resumes, concludes or is cancelled: how the
# model's traffic is split has changed. kwargs: test_id, model_name, state.
abtest_routing_changed = Signal()
