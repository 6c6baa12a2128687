from django.urls import path

from bespoke.portal import (desk_views, invitation_views, legal_views, representation_views, story_views, talent_views,
                            viewer_views,
                            views)

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
    path("verification/evidence/<uuid:evidence_id>/", views.my_verification_evidence,
         name="portal-my-verification-evidence"),
    path("renders/<uuid:job_id>/progress/", views.render_progress, name="portal-render-progress"),
    path("renders/<uuid:job_id>/decide/", views.render_decide, name="portal-render-decide"),
    path("renders/<uuid:job_id>/download/", views.render_download, name="portal-render-download"),
]

urlpatterns += [
    path("me/likeness/", talent_views.my_likeness, name="portal-my-likeness"),
    path("me/likeness/<uuid:output_id>/thumbnail.jpg", talent_views.likeness_thumbnail,
         name="portal-likeness-thumbnail"),
    path("me/photos/", talent_views.my_photos, name="portal-my-photos"),
    path("me/export/", talent_views.my_export, name="portal-my-export"),
    path("me/erase/", talent_views.my_erase, name="portal-my-erase"),
    path("renders/<uuid:job_id>/cancel/", talent_views.render_cancel, name="portal-render-cancel"),
]

urlpatterns += [
    path("invitations/", invitation_views.invitation_list, name="portal-invitations"),
    path("invitations/<uuid:invitation_id>/revoke/", invitation_views.invitation_revoke,
         name="portal-invitation-revoke"),
    path("invitations/accept/<str:token>/", invitation_views.invitation_accept, name="portal-invitation-accept"),
]

urlpatterns += [
    path("licenses/new/", legal_views.license_draft, name="portal-license-draft"),
    path("licenses/<uuid:license_id>/suspend/", legal_views.license_suspend, name="portal-license-suspend"),
    path("licenses/<uuid:license_id>/resume/", legal_views.license_resume, name="portal-license-resume"),
    path("templates/", legal_views.template_list, name="portal-templates"),
    path("templates/new/", legal_views.template_create, name="portal-template-create"),
    path("templates/<uuid:template_id>/", legal_views.template_edit, name="portal-template-edit"),
    path("templates/<uuid:template_id>/archive/", legal_views.template_archive, name="portal-template-archive"),
    path("audit/", legal_views.audit_log, name="portal-audit-log"),
]

# The verification desk: the platform operator's verifiers only (404 for anyone else).
urlpatterns += [
    path("desk/", desk_views.queue, name="portal-desk"),
    path("desk/verifications/<uuid:verification_id>/", desk_views.verification_review,
         name="portal-desk-verification"),
    path("desk/verifications/<uuid:verification_id>/evidence/<uuid:evidence_id>/", desk_views.verification_evidence,
         name="portal-desk-verification-evidence"),
    path("desk/representations/<uuid:representation_id>/", desk_views.representation_review,
         name="portal-desk-representation"),
    path("desk/representations/<uuid:representation_id>/evidence/<uuid:evidence_id>/",
         desk_views.representation_evidence, name="portal-desk-representation-evidence"),
]

# Representations: the talent's side and the representative's.
urlpatterns += [
    path("me/representatives/", representation_views.my_representatives, name="portal-my-representatives"),
    path("representations/", representation_views.representation_list, name="portal-representations"),
    path("representations/<uuid:representation_id>/", representation_views.representation_detail,
         name="portal-representation"),
    path("representations/<uuid:representation_id>/evidence/<uuid:evidence_id>/",
         representation_views.representation_evidence, name="portal-representation-evidence"),
    path("representations/<uuid:representation_id>/end/", representation_views.representation_end,
         name="portal-representation-end"),
]

# Interactive stories: the studio's producers and legal staff author, cast and publish (404 outside it).
urlpatterns += [
    path("stories/", story_views.story_list, name="portal-stories"),
    path("stories/new/", story_views.story_new, name="portal-story-new"),
    path("stories/<uuid:story_id>/", story_views.story_detail, name="portal-story"),
    path("stories/<uuid:story_id>/roles/<uuid:role_id>/cast/", story_views.story_role_cast,
         name="portal-story-role-cast"),
    path("stories/<uuid:story_id>/publish/", story_views.story_publish, name="portal-story-publish"),
    path("stories/<uuid:story_id>/star/", viewer_views.star, name="portal-star"),
    path("stories/<uuid:story_id>/star/photo/", viewer_views.star_photo, name="portal-star-photo"),
    path("stories/<uuid:story_id>/star/capture/", viewer_views.star_capture, name="portal-star-capture"),
    path("stories/<uuid:story_id>/star/consent/", viewer_views.star_consent, name="portal-star-consent"),
    path("stories/<uuid:story_id>/star/train/", viewer_views.star_train, name="portal-star-train"),
    path("stories/<uuid:story_id>/star/play/", viewer_views.star_play, name="portal-star-play"),
    path("play/<uuid:playthrough_id>/", viewer_views.player, name="portal-player"),
    path("play/<uuid:playthrough_id>/state/", viewer_views.player_state, name="portal-player-state"),
    path("play/<uuid:playthrough_id>/choose/", viewer_views.player_choose, name="portal-player-choose"),
    path("play/<uuid:playthrough_id>/scenes/<uuid:scene_id>/approve/", viewer_views.player_approve,
         name="portal-player-approve"),
    path("play/<uuid:playthrough_id>/scenes/<uuid:scene_id>.mp4", viewer_views.player_scene_video,
         name="portal-player-scene"),
    path("play/<uuid:playthrough_id>/cut/", viewer_views.player_cut, name="portal-player-cut"),
    path("play/<uuid:playthrough_id>/cut.mp4", viewer_views.player_cut_download, name="portal-player-cut-download"),
    path("play/<uuid:playthrough_id>/revoke/", viewer_views.player_revoke, name="portal-player-revoke"),
]
