from django.contrib import admin

from core.admin_mixins import ReadOnlyAdmin
from consent.models import (
    IdentityVerification,
    LicenseRevocation,
    LicenseSuspension,
    LicenseUse,
    LikenessLicense,
    Membership,
    Organization,
    Representation,
    SignatureEvent,
    Talent,
)


@admin.register(LikenessLicense)
class LikenessLicenseAdmin(ReadOnlyAdmin):
    list_display = ("id", "version", "status", "talent", "licensee", "starts_on", "ends_on")
    list_filter = ("status", "licensee")


@admin.register(IdentityVerification)
class IdentityVerificationAdmin(ReadOnlyAdmin):
    list_display = ("id", "talent", "method", "status", "requested_at", "decided_at")
    list_filter = ("status", "method")


@admin.register(Representation)
class RepresentationAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "talent", "status", "requested_at", "decided_at", "valid_until")
    list_filter = ("kind", "status")


for model in (Organization, Membership, Talent, LicenseRevocation, LicenseUse, LicenseSuspension, SignatureEvent):
    admin.site.register(model, ReadOnlyAdmin)
