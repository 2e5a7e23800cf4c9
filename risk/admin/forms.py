"""What the risk pages' forms share."""

from __future__ import annotations

from django import forms


def form_errors_text(form: forms.Form) -> str:
    return "; ".join(f"{form.fields[name].label if name in form.fields else name}: {' '.join(map(str, errors))}"
                     for name, errors in form.errors.items())
