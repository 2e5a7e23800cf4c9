"""The forms and small helpers of the complaint and closure pages."""

from __future__ import annotations

from django import forms
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.ids import parse_id
from complaints.models import Alternative, Category, Channel, WaiverKind
from complaints.reasons import SYSTEM_CLOSURE_CODES

BADGE_LABELS = {"breached": _("breached"), "due_soon": _("due soon")}


def object_id_of(object_id: str) -> int:
    value = parse_id(unquote(object_id))
    if value is None:
        raise PermissionDenied
    return value


def badge_html(badge: str | None) -> str:
    if badge is None:
        return ""
    return format_html('<span class="due-badge due-{}">{}</span>', badge, BADGE_LABELS[badge])


def agents():
    """Active staff who may handle complaints (through a group or directly)."""
    perm = Q(groups__permissions__codename="handle_complaint",
             groups__permissions__content_type__app_label="complaints") | Q(
        user_permissions__codename="handle_complaint", user_permissions__content_type__app_label="complaints")
    return get_user_model().objects.filter(perm, is_active=True, is_staff=True).distinct().order_by("username")


# --- forms ---------------------------------------------------------------------------------------


def _text(label, rows: int = 3, required: bool = True) -> forms.CharField:
    return forms.CharField(label=label, required=required, widget=forms.Textarea(attrs={"rows": rows}))


class FileComplaintForm(forms.Form):
    customer_external_id = forms.CharField(label=_("Store customer id"), max_length=64)
    account_id = forms.IntegerField(label=_("Credit account id (optional)"), required=False, min_value=1)
    category = forms.ChoiceField(label=_("Category"), choices=Category.choices)
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices, initial=Channel.PHONE)
    description = _text(_("What the customer says"), rows=5)


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(label=_("Agent"), queryset=get_user_model().objects.none())
    note = forms.CharField(label=_("Note"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = agents()


NOBODY = "nobody"


class BulkAssignForm(forms.Form):
    """The target of a bulk reassignment: an agent, or nobody (back to the unassigned queue)."""

    assignee = forms.ChoiceField(label=_("Assign to"), choices=())
    note = forms.CharField(label=_("Note (kept in each complaint's history)"), required=False, max_length=500,
                           widget=forms.TextInput(attrs={"size": 60}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.agents = {str(user.pk): user for user in agents()}
        self.fields["assignee"].choices = [
            ("", "---------"), (NOBODY, gettext("Nobody (back to the unassigned queue)")),
            *((pk, user.get_username()) for pk, user in self.agents.items())]

    def clean_assignee(self):
        """The chosen agent (a user), or None for nobody."""
        value = self.cleaned_data["assignee"]
        return None if value == NOBODY else self.agents[value]


class ReplyForm(forms.Form):
    body = _text(_("Reply to the customer"))
    await_customer = forms.BooleanField(label=_("Ask the customer and wait for the answer"), required=False)


class BodyForm(forms.Form):
    body = _text(_("Text"))


class ResolveForm(forms.Form):
    resolution = _text(_("Final response to the customer"), rows=5)


class NoteForm(forms.Form):
    note = _text(_("Reason"), rows=2)


class WaiverForm(forms.Form):
    item = forms.ChoiceField(label=_("Fee or penalty"), choices=())
    amount = forms.DecimalField(label=_("Amount (CNY)"), max_digits=14, decimal_places=2, min_value=0)
    reason = _text(_("Reason"), rows=2)

    def __init__(self, *args, items=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["item"].choices = [(f"{i.kind}:{i.item_id}", f"{i.label} — {i.owed}") for i in items]

    def clean_item(self) -> tuple[str, int]:
        kind, _sep, item_id = self.cleaned_data["item"].partition(":")
        item = parse_id(item_id)
        if kind not in WaiverKind.values or item is None:
            raise forms.ValidationError(gettext("Choose a fee or a penalty."))
        return kind, item


class ReleaseHoldForm(forms.Form):
    hold_id = forms.IntegerField(widget=forms.HiddenInput)
    reason = _text(_("Reason"), rows=2)


class StartClosureForm(forms.Form):
    note = _text(_("What the customer asked"), rows=2, required=False)
    identity_method = forms.CharField(label=_("Identity verified by (leave empty if not yet verified)"),
                                      max_length=200, required=False)


class VerifyIdentityForm(forms.Form):
    method = forms.CharField(label=_("How the identity was verified"), max_length=200)


class AlternativeForm(forms.Form):
    alternative = forms.ChoiceField(label=_("Alternative the customer accepts"), choices=Alternative.choices)
    new_limit = forms.DecimalField(label=_("New limit (for a lower limit)"), max_digits=14, decimal_places=2,
                                   required=False, min_value=0)
    note = forms.CharField(label=_("Note"), required=False)


class SystemClosureForm(forms.Form):
    account_id = forms.IntegerField(label=_("Credit account id"), min_value=1)
    reason_code = forms.ChoiceField(label=_("Reason"), choices=SYSTEM_CLOSURE_CODES)
    note = _text(_("Note (required)"), rows=3, required=False)


# --- the complaint queue --------------------------------------------------------------------------
