"""The public list functions take a glob string; anything else is a TypeError naming the function and the argument
(fnmatch's own "expected str, bytes or os.PathLike object" names neither)."""
from __future__ import annotations

import pytest

import kdpose
from kdpose.models import list_models, list_pretrained


@pytest.mark.parametrize("function", [list_models, list_pretrained, kdpose.list_models])
@pytest.mark.parametrize("pattern", [3, None, ["rtmpose-*"], b"rtmpose-*"])
def test_a_pattern_that_is_not_a_string_is_named(function, pattern):
    with pytest.raises(TypeError) as info:
        function(pattern)
    text = str(info.value)
    assert text == (f"{function.__name__}: pattern must be a glob string such as 'rtmpose-*', got "
                    f"{type(pattern).__name__} {pattern!r}")
    assert "os.PathLike" not in text


def test_string_patterns_still_filter():
    assert list_models("rtmpose-*") and all(n.startswith("rtmpose-") for n in list_models("rtmpose-*"))
    assert list_models() == sorted(list_models()) and list_models("no-such-model-*") == []
    assert all(t.startswith("rtmpose-") for t in list_pretrained("rtmpose-*"))
