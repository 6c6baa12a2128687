from django.contrib import admin

from bespoke.admin_mixins import ReadOnlyAdmin
from consent.models import IdentityVerification, LicenseRevocation, LicenseUse, LikenessLicense, Membership, Organization, Talent


@admin.register(LikenessLicense)
class LikenessLicenseAdmin(ReadOnlyAdmin):
    list_display = ("id", "talent", "licensee", "starts_on", "ends_on", "talent_signed_at", "countersigned_at")
    list_filter = ("licensee",)


@admin.register(IdentityVerification)
class IdentityVerificationAdmin(ReadOnlyAdmin):
    list_display = ("id", "talent", "method", "status", "requested_at", "decided_at")
    list_filter = ("status", "method")


for model in (Organization, Membership, Talent, LicenseRevocation, LicenseUse):
    admin.site.register(model, ReadOnlyAdmin)
