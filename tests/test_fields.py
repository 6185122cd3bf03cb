"""How the library's refusals become validation errors naming the field, with the library's
message and hint, and back into errors the command line prints."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError, model_validator

from tradpal.errors import DiscoveryError, FieldError, TradPalError
from tradpal.fields import field_refused, hint_of, message_of, refusal, validated


class Inner(BaseModel):
    n: int = Field(1, ge=1, le=10)


class Outer(BaseModel):
    model_config = {"extra": "forbid"}
    name: str
    inner: Inner = Inner()

    @model_validator(mode="after")
    def _known(self):
        if self.name == "nope":
            raise field_refused("name", TradPalError("unknown name", hint="try x"), self.name)
        return self


def test_a_refused_field_keeps_its_place_message_and_hint():
    with pytest.raises(ValidationError) as caught:
        Outer(name="nope")
    (error,) = caught.value.errors()
    assert error["loc"] == ("name",) and message_of(error) == "unknown name"
    assert hint_of(error) == "try x"


def test_pydantic_s_own_errors_get_plain_messages_and_hints():
    with pytest.raises(ValidationError) as caught:
        Outer(name="x", inner={"n": 99}, colour="red")
    errors = {e["loc"]: e for e in caught.value.errors()}
    assert hint_of(errors[("inner", "n")]) == "use 10 or less"
    assert message_of(errors[("colour",)]) == "unknown field"
    assert "no such field" in hint_of(errors[("colour",)])


def test_validated_raises_an_error_the_command_line_prints():
    with pytest.raises(FieldError) as caught:
        validated(Outer, {"name": "nope"})
    assert caught.value.field == "name" and caught.value.hint == "try x"
    assert caught.value.message == "name: unknown name"
    with pytest.raises(DiscoveryError) as other:
        validated(Outer, {"name": "x", "inner": {"n": 0}, "bogus": 1}, error=DiscoveryError)
    assert other.value.field == "inner.n" and "(and 1 more field(s))" in other.value.message


def test_refusal_has_no_python_reprs():
    error = refusal(TradPalError("bad value", hint="fix it"))
    assert str(error) == "bad value" and error.context == {"reason": "bad value", "hint": "fix it"}
