from django.dispatch import Signal

# Sent after commit when a version enters production (promotion or rollback).
# kwargs: version_id, model_name, version, kind ("promote" | "rollback"), previous_version_id.
version_deployed = Signal()

# Sent after commit when a version is registered, or its load check is asked for again;
# serving_app queues the load check. kwargs: version_id, model_name, version.
version_registered = Signal()
load_check_requested = Signal()

# Sent after commit when an alias is set, moved or deleted (serving bumps the model's
# generation; webhooks announce it). kwargs: model_name, alias, from_version and to_version
# (semver strings, None when the alias was new or is deleted), to_sequence (None when
# deleted), actor_id, source, change_id (the AliasChange row).
alias_changed = Signal()

# Sent inside the transaction that makes the change, so that a receiver's rows (webhooks_app
# writes its outbox) commit or roll back with it. Receivers write rows only: no I/O.
# model_created: model. version_created: version. stage_changed: transition (one per
# recorded move). model_rolled_back: transition (the restore), replaced (the version taken
# out of production).
model_created = Signal()
version_created = Signal()
# version_tags_changed: version, old (its tags before), new (after); one send per edit.
version_tags_changed = Signal()
stage_changed = Signal()
model_rolled_back = Signal()

# Sent after a gate refused a move and its transaction rolled back. kwargs: version,
# to_stage, actor, message, gate_report (a list of gate results).
move_refused = Signal()
