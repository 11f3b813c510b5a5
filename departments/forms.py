"""The landing page's form: a work email to send a sign-in link to."""

from django import forms

from conversion.forms import ErrorSummaryMixin


class SignInForm(ErrorSummaryMixin, forms.Form):
    email = forms.EmailField(
        label="Your work email",
        max_length=254,
        help_text="The email STND holds for you, or the one your department named in the survey.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
