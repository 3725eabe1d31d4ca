"""The page settings in the admin: one change page (no list, no adding or
deleting), the logo uploaded through it into the database."""

from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html

from incidents.appearance import logos
from incidents.appearance.models import PageSettings


def time_zone_choices():
    default = f"From PAGE_TIME_ZONE ({settings.KAMUSTATUS_TIME_ZONE})"
    return [("", default), *((name, name) for name in sorted(available_timezones()))]


class PageSettingsForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        choices=time_zone_choices,
        required=False,
        help_text=PageSettings._meta.get_field("time_zone").help_text,
    )
    logo_upload = forms.FileField(
        label="New logo",
        required=False,
        help_text=f"PNG, JPEG, WebP or SVG, at most {logos.MAX_BYTES // 1024} KiB; "
        "kept in the database, so backups hold it.",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(logos.TYPES)}),
    )
    remove_logo = forms.BooleanField(label="Remove the logo", required=False)

    class Meta:
        model = PageSettings
        fields = [
            "name",
            "public_url",
            "time_zone",
            "default_language",
            "accent_colour",
            "accent_colour_dark",
            "support_url",
            "website_url",
            "about",
        ]
        widgets = {
            "accent_colour": forms.TextInput(attrs={"placeholder": "#0b57b8", "size": 8}),
            "accent_colour_dark": forms.TextInput(attrs={"placeholder": "#8ab8ff", "size": 8}),
            "about": forms.Textarea(attrs={"rows": 5}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # What an empty field means, in the field itself.
        self.fields["name"].widget.attrs["placeholder"] = settings.KAMUSTATUS_PAGE_NAME
        if settings.KAMUSTATUS_PAGE_URL:
            self.fields["public_url"].widget.attrs["placeholder"] = settings.KAMUSTATUS_PAGE_URL
        self.fields["default_language"].choices = [
            ("", f"From PAGE_LANGUAGE ({settings.KAMUSTATUS_PAGE_LANGUAGE})"),
            *self.fields["default_language"].choices[1:],
        ]

    def clean_logo_upload(self):
        upload = self.cleaned_data.get("logo_upload")
        if not upload:
            return None
        data = upload.read(logos.MAX_BYTES + 1)  # enough to tell it is too large
        logos.sniff(data)  # raises with the reason
        return data

    def save(self, commit=True):
        row = super().save(commit=False)
        if self.cleaned_data.get("logo_upload"):
            row.set_logo(self.cleaned_data["logo_upload"])
        elif self.cleaned_data.get("remove_logo"):
            row.remove_logo()
        if commit:
            row.save()
        return row


@admin.register(PageSettings)
class PageSettingsAdmin(admin.ModelAdmin):
    form = PageSettingsForm
    readonly_fields = ["current_logo"]
    fieldsets = [
        (None, {"fields": ["name", "public_url", "time_zone", "default_language"]}),
        (
            "Look",
            {
                "fields": [
                    "current_logo",
                    "logo_upload",
                    "remove_logo",
                    "accent_colour",
                    "accent_colour_dark",
                ]
            },
        ),
        ("Header links and about text", {"fields": ["support_url", "website_url", "about"]}),
    ]

    @admin.display(description="Logo")
    def current_logo(self, obj):
        if not obj or not obj.logo_hash:
            return "None: the header shows the page's name alone."
        ext = logos.TYPES.get(obj.logo_type, "")
        return format_html(
            '<img src="{}" alt="The current logo" class="page-logo-preview">',
            reverse("page-logo", args=[obj.logo_hash + ext]),
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # One row: the list is its change page.
        row = PageSettings.objects.get_solo()
        return redirect(reverse("admin:appearance_pagesettings_change", args=[row.pk]))

    def get_object(self, request, object_id, from_field=None):
        if str(object_id) == str(PageSettings.SINGLETON):
            return PageSettings.objects.get_solo()
        return super().get_object(request, object_id, from_field)
