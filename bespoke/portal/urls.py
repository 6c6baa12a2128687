from django.urls import path

from bespoke.portal import views

urlpatterns = [
    path("licenses/<uuid:license_id>/", views.license_detail, name="portal-license"),
    path("licenses/<uuid:license_id>/sign/", views.license_sign, name="portal-license-sign"),
    path("licenses/<uuid:license_id>/countersign/", views.license_sign, {"countersign": True},
         name="portal-license-countersign"),
    path("licenses/<uuid:license_id>/revoke/", views.license_revoke, name="portal-license-revoke"),
    path("licenses/<uuid:license_id>/render/", views.render_request, name="portal-render-request"),
    path("renders/", views.render_list, name="portal-renders"),
    path("reports/compliance/", views.compliance_report, name="portal-compliance-report"),
    path("verification/", views.my_verification, name="portal-my-verification"),
    path("verifications/<uuid:verification_id>/", views.verification_review, name="portal-verification"),
    path("verifications/<uuid:verification_id>/evidence/<uuid:evidence_id>/", views.verification_evidence,
         name="portal-verification-evidence"),
    path("renders/<uuid:job_id>/progress/", views.render_progress, name="portal-render-progress"),
    path("renders/<uuid:job_id>/decide/", views.render_decide, name="portal-render-decide"),
    path("renders/<uuid:job_id>/download/", views.render_download, name="portal-render-download"),
]
