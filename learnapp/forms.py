"""WTForms forms; every one carries a CSRF token through Flask-WTF."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    AnyOf,
    DataRequired,
    Email,
    EqualTo,
    Length,
    Optional,
    ValidationError,
)

from learnapp.accounts import NUMBER_NEEDS_BODY, AccountError, clean_instructor_number
from learnapp.models import (
    EMAIL_MAX,
    INSTRUCTOR_NUMBER_MAX,
    NAME_MAX,
    NOTE_MAX,
    REINSTATE_REASONS,
    REVOKE_REASONS,
    ROLES,
    UNBLOCK_REASONS,
)
from learnapp.names import InvalidName, clean_name

PASSWORD_MIN = 10
PASSWORD_MAX = 128


def person_name(form: FlaskForm, field: StringField) -> None:
    """The name rule (learnapp/names.py) as a validator, with its message on the field."""
    if field.errors:  # Length has said what is wrong: one message is enough
        return
    try:
        clean_name(field.data or "")
    except InvalidName as error:
        raise ValidationError(str(error)) from error


def _new_password(label: str = "New password") -> PasswordField:
    return PasswordField(
        label,
        validators=[DataRequired(), Length(min=PASSWORD_MIN, max=PASSWORD_MAX)],
        description=f"At least {PASSWORD_MIN} characters.",
    )


def _repeat() -> PasswordField:
    return PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
    )


def _current_password() -> PasswordField:
    return PasswordField(
        "Your current password", validators=[DataRequired(), Length(max=PASSWORD_MAX)]
    )


class EmptyForm(FlaskForm):
    """A bare button: only the CSRF token."""

    submit = SubmitField("Continue")


class MarkReadForm(FlaskForm):
    """A section's "Mark as read": `served`, the signed moment the page was served
    (progress.served_token), times the reading. Not a requirement: a missing or bad one
    still marks the section read, with no reading time."""

    served = HiddenField()


class RegisterForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=NAME_MAX), person_name])
    email = EmailField(
        "E-mail",
        validators=[DataRequired(), Email(check_deliverability=False), Length(max=EMAIL_MAX)],
    )
    password = _new_password("Password")
    confirm = _repeat()
    submit = SubmitField("Create my account")


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=EMAIL_MAX)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=PASSWORD_MAX)])
    remember = BooleanField("Keep me logged in on this device")
    submit = SubmitField("Log in")


class CertificateNameForm(FlaskForm):
    name = StringField(
        "Name to print on the certificate",
        validators=[DataRequired(), Length(max=NAME_MAX), person_name],
        description="Check the spelling: after this, corrections go through your instructor.",
    )
    submit = SubmitField("Issue my certificate")


# The certificate page holds several of these forms at once: each names its fields' ids
# (`field_id`), so that every label points at its own field.


def _public_reason(
    reasons: tuple[str, ...],
    shown: str = "Shown on the public verification page.",
    field_id: str | None = None,
) -> SelectField:
    # Public: others read it, so it comes from a short list, never an instructor's free text.
    return SelectField(
        "Public reason",
        choices=[SelectChoice("", "Choose a reason…"), *(SelectChoice(r, r) for r in reasons)],
        validate_choice=False,  # AnyOf says it in words a person understands
        validators=[AnyOf(reasons, message="Please choose the public reason from the list.")],
        description=shown,
        id=field_id,
    )


def _private_note(field_id: str | None = None) -> TextAreaField:
    return TextAreaField(
        "Private note (optional)",
        id=field_id,
        validators=[
            Length(max=NOTE_MAX, message=f"The note is too long: at most {NOTE_MAX} characters.")
        ],
        description="What happened, for the record. Only the certificate's instructors and admins"
        " see it, and the holder in their data download; never the public verification page.",
    )


class RevokeForm(FlaskForm):
    reason = _public_reason(REVOKE_REASONS)
    note = _private_note()
    # Set by the confirmation page: the first submission only shows what the public will see.
    confirmed = HiddenField()
    submit = SubmitField("Revoke this certificate…")


class ReinstateForm(FlaskForm):
    reason = _public_reason(REINSTATE_REASONS, field_id="reinstate-reason")
    note = _private_note("reinstate-note")
    submit = SubmitField("Reinstate this certificate")


class UnblockForm(FlaskForm):
    reason = _public_reason(
        UNBLOCK_REASONS, "Shown to the learner and in the certificate's log.", "unblock-reason"
    )
    note = _private_note("unblock-note")
    submit = SubmitField("Lift the block")


def _ticked(_form: FlaskForm, field: BooleanField) -> None:
    """The box as the page sends it ("y"): any other value confirms nothing, since the
    action it confirms cannot be undone."""
    if field.raw_data != ["y"]:
        raise ValidationError("Please tick the box to confirm the holder's request.")


class WithdrawForm(FlaskForm):
    confirm = BooleanField("The holder asked us to delete this certificate", validators=[_ticked])
    submit = SubmitField("Withdraw and delete the PDF")


class ReissueForm(FlaskForm):
    name = StringField(
        "Corrected name",
        validators=[
            DataRequired("Please give the corrected name."),
            Length(max=NAME_MAX),
            person_name,
        ],
    )
    submit = SubmitField("Reissue with this name")


class VerifyUploadForm(FlaskForm):
    pdf = FileField(
        "Certificate PDF",
        validators=[
            FileRequired("Choose a PDF file."),
            FileAllowed(["pdf"], "Only PDF files can be checked."),
        ],
    )
    submit = SubmitField("Check this file")


class CohortForm(FlaskForm):
    name = StringField(
        "Cohort name",
        validators=[DataRequired(), Length(max=NAME_MAX)],
        description="For example: Tuesday evening class, 3 March.",
    )
    session_date = DateField(
        "Class session date", validators=[DataRequired(message="Give the date as YYYY-MM-DD.")]
    )
    lesson = SelectField("Lesson", validators=[DataRequired()])
    submit = SubmitField("Create the cohort")


class JoinForm(FlaskForm):
    code = StringField(
        "Cohort code",
        validators=[DataRequired(), Length(max=40)],
        description="The 8-character code your instructor shows in class (like K7P2-9QXM),"
        " or the long code of a join link.",
    )
    submit = SubmitField("Join the cohort")


class RemoveLearnerForm(FlaskForm):
    # Set by the confirmation page: the first submission only says what removing does.
    confirmed = HiddenField(validators=[Optional(), AnyOf(["yes"])])
    submit = SubmitField("Remove from the cohort…")


class AddInstructorForm(FlaskForm):
    email = EmailField(
        "E-mail of the instructor to add",
        validators=[
            DataRequired("Give the e-mail address of the instructor's account."),
            Email("Give an e-mail address such as name@example.org.", check_deliverability=False),
            Length(max=EMAIL_MAX),
        ],
        description="Their account must exist and have the instructor role. They get the same"
        " powers over this cohort as you.",
        id="instructor-email",  # the dashboard has other forms
    )
    submit = SubmitField("Add the instructor")


def instructor_number(form: FlaskForm, field: StringField) -> None:
    """accounts.clean_instructor_number as a validator."""
    if field.errors:
        return
    try:
        clean_instructor_number(field.data or "")
    except AccountError as error:
        raise ValidationError(str(error)) from error


class InstructorProfileForm(FlaskForm):
    """What an instructor signs with; every field may be left empty."""

    instructor_name = StringField(
        "Name to print",
        validators=[Optional(), Length(max=NAME_MAX), person_name],
        description="As it should appear where you sign, for example on a skills sign-off."
        " Leave it empty to use your account's name.",
    )
    instructor_number = StringField(
        "Instructor number or ID",
        validators=[Optional(), Length(max=INSTRUCTOR_NUMBER_MAX), instructor_number],
    )
    issuing_body = StringField(
        "Issued by",
        validators=[Optional(), Length(max=NAME_MAX), person_name],
        description="The body that certified you as an instructor, for example Canadian Red Cross.",
    )
    submit = SubmitField("Save the instructor profile")

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        number, body = self.instructor_number, self.issuing_body
        if valid and bool((number.data or "").strip()) != bool((body.data or "").strip()):
            (body if number.data and number.data.strip() else number).errors.append(
                NUMBER_NEEDS_BODY
            )
            return False
        return valid


class LeaveCohortForm(FlaskForm):
    # Set by the confirmation page: the first submission only says what leaving means.
    confirmed = HiddenField(validators=[Optional(), AnyOf(["yes"])])
    submit = SubmitField("Leave")


class NameForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=NAME_MAX), person_name])
    submit = SubmitField("Save the name")


class EmailChangeForm(FlaskForm):
    email = EmailField(
        "New e-mail",
        validators=[DataRequired(), Email(check_deliverability=False), Length(max=EMAIL_MAX)],
        description="We send a link to it: the change takes effect once you follow the link."
        " Give your current address to withdraw a change you asked for.",
    )
    current = _current_password()
    submit = SubmitField("Change the e-mail")


class ResendConfirmationForm(FlaskForm):
    submit = SubmitField("Send the link again")


class ConfirmEmailForm(FlaskForm):
    submit = SubmitField("Confirm this address")


class PasswordChangeForm(FlaskForm):
    current = _current_password()
    password = _new_password()
    confirm = _repeat()
    submit = SubmitField("Change the password")


class ResetRequestForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=EMAIL_MAX)])
    submit = SubmitField("Send me a reset link")


class ResetForm(FlaskForm):
    password = _new_password()
    confirm = _repeat()
    submit = SubmitField("Set the new password")


class DeleteAccountForm(FlaskForm):
    current = _current_password()
    submit = SubmitField("Delete my account")


class RetryForm(FlaskForm):
    """An admin's retry of a failed outbox row: nothing but the CSRF token."""

    submit = SubmitField("Retry")


class UserAdminForm(FlaskForm):
    role = SelectField("Role", choices=[SelectChoice(role, role.title()) for role in ROLES])
    enabled = BooleanField("Account enabled")
    submit = SubmitField("Save")


class UserCreateForm(FlaskForm):
    """An admin adds an account: the person gets a link to choose their password."""

    name = StringField(
        "Name",
        validators=[DataRequired("Give the person's name."), Length(max=NAME_MAX), person_name],
    )
    email = EmailField(
        "E-mail",
        validators=[
            DataRequired("Give their e-mail address."),
            Email("Give an e-mail address such as name@example.org.", check_deliverability=False),
            Length(max=EMAIL_MAX),
        ],
    )
    # Checked by AnyOf rather than by the field, so that the message says what to do.
    role = SelectField(
        "Role",
        choices=[SelectChoice(role, role.title()) for role in ROLES],
        default="learner",
        validate_choice=False,
        validators=[AnyOf(ROLES, message="Choose a role from the list.")],
    )
    submit = SubmitField("Create the account")


class ResetLinkForm(FlaskForm):
    """An admin mails a user a password-reset link: nothing but the CSRF token."""

    submit = SubmitField("Send a reset link")


class DeleteUserForm(FlaskForm):
    # Set by the confirmation page: the first submission only says what deleting does.
    confirmed = HiddenField(validators=[Optional(), AnyOf(["yes"])])
    submit = SubmitField("Delete")
