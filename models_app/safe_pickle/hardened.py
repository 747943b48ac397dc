"""Reconstruction helpers that trust their input, replaced by ones that check it first.

pyarrow's _restore_array builds an array from buffers without validating them: offsets past
the end of a buffer make the array read (and hand back) whatever memory follows.
"""

from __future__ import annotations

from typing import Any

from models_app.safe_pickle.policy import UnsafePickle


def restore_arrow_array(data: Any) -> Any:
    from pyarrow.lib import _restore_array

    array = _restore_array(data)
    try:
        array.validate(full=True)
    except Exception as exc:  # pyarrow raises ArrowInvalid and friends
        raise UnsafePickle(f"the file holds an Arrow array whose buffers do not match its "
                           f"length ({exc}); it was refused.") from exc
    return array


HARDENED = {("pyarrow.lib", "_restore_array"): restore_arrow_array}
