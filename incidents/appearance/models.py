"""The page's settings: one row, edited in the admin.

Every field may be left empty, and then says what the environment set for a
fresh install (PAGE_NAME, PAGE_URL, PAGE_TIME_ZONE, PAGE_LANGUAGE) or the
built-in look. Each rule and its message is here once; the admin form shows
them (docs/page-settings.md).
"""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models

from incidents.appearance import colours, logos
from incidents.cache.generation import ShapesEveryPage

# The languages the page can be shown in (its own words; docs/page-settings.md).
PAGE_LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("pt-br", "Português (Brasil)"),
    ("ja", "日本語"),
    ("fil", "Filipino"),
]

web_address = URLValidator(
    schemes=["http", "https"], message="Enter a web address starting with https:// or http://."
)


def validate_time_zone(value):
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"{value!r} is not an IANA time zone; use a name such as Europe/Berlin or Etc/UTC.",
            code="invalid_time_zone",
        ) from None


def validate_public_url(value):
    web_address(value)
    if "?" in value or "#" in value:
        raise ValidationError(
            "The page's address has no query or fragment, e.g. https://status.example.com.",
            code="invalid_public_url",
        )


def validate_colour(value):
    colours.normalise(value)


class PageSettingsManager(models.Manager):
    def get_solo(self):
        """The one row, made (empty: every value from the environment) if missing."""
        row, _created = self.get_or_create(pk=PageSettings.SINGLETON)
        return row


class PageSettings(ShapesEveryPage, models.Model):
    SINGLETON = 1

    name = models.CharField(
        max_length=100,
        blank=True,
        help_text="Shown in the header, the title, feeds and mails. Empty: PAGE_NAME.",
    )
    public_url = models.CharField(
        "public URL",
        max_length=200,
        blank=True,
        validators=[validate_public_url],
        help_text="Where visitors reach the page, used in mails, feeds, webhooks and links. "
        "Empty: PAGE_URL, else the address each visitor used.",
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="Days of uptime and the admin's times are in this zone. Empty: PAGE_TIME_ZONE.",
    )
    default_language = models.CharField(
        max_length=8,
        blank=True,
        choices=PAGE_LANGUAGES,
        help_text="For visitors whose browser asks for none of the page's languages. "
        "Empty: PAGE_LANGUAGE (English unless set).",
    )
    accent_colour = models.CharField(
        max_length=7,
        blank=True,
        validators=[validate_colour],
        help_text="Links and the header's accent in the light colour scheme, as #rrggbb; "
        f"it needs a contrast of {colours.MINIMUM_CONTRAST}:1 with the page. Empty: built-in.",
    )
    accent_colour_dark = models.CharField(
        "accent colour (dark scheme)",
        max_length=7,
        blank=True,
        validators=[validate_colour],
        help_text="The same for visitors in dark mode. Empty: the light accent, lightened "
        "until it is readable on the dark page.",
    )
    support_url = models.CharField(
        "support link",
        max_length=500,
        blank=True,
        validators=[web_address],
        help_text="A “Support” link in the header (a help desk, a contact page).",
    )
    website_url = models.CharField(
        "main site link",
        max_length=500,
        blank=True,
        validators=[web_address],
        help_text="A link back to your main site in the header.",
    )
    about = models.TextField(
        "about text",
        max_length=5000,
        blank=True,
        help_text="Shown at the top of the status page. Markdown: links, *emphasis*, "
        "`code`, lists; bare URLs become links.",
    )
    # The logo's bytes, so a database backup holds it (docs/page-settings.md).
    logo = models.BinaryField(null=True, blank=True, editable=False)
    logo_type = models.CharField(max_length=32, blank=True, editable=False)
    logo_hash = models.CharField(max_length=16, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PageSettingsManager()

    class Meta:
        verbose_name = "page settings"
        verbose_name_plural = "page settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="page_settings_singleton"),
        ]

    def __str__(self):
        return "Page settings"

    def clean(self):
        errors = {}
        for field, scheme in (("accent_colour", "light"), ("accent_colour_dark", "dark")):
            value = getattr(self, field)
            if not value:
                continue
            try:
                value = colours.normalise(value)
                colours.check_contrast(value, scheme)
            except ValidationError as error:
                errors[field] = error
            else:
                setattr(self, field, value)
        if errors:
            raise ValidationError(errors)
        self.public_url = self.public_url.rstrip("/")

    def set_logo(self, data):
        """Keep ``data`` as the logo (ValidationError if it is not one we accept)."""
        self.logo_type = logos.sniff(data)
        self.logo = bytes(data)
        self.logo_hash = logos.digest(data)

    def remove_logo(self):
        self.logo, self.logo_type, self.logo_hash = None, "", ""
