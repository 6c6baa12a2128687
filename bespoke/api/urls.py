"""The /api/v1/ router: every API route is registered here (the persona matrix test reads it)."""

from rest_framework.routers import DefaultRouter

from accounts.api import InvitationViewSet
from bespoke.api.me import MeViewSet
from consent.api import LicenseViewSet, RepresentationViewSet, TalentViewSet, VerificationViewSet
from generation.api import RenderViewSet, TrainingViewSet
from stories.api import StoryViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("talents", TalentViewSet, basename="talent")
router.register("verifications", VerificationViewSet, basename="verification")
router.register("representations", RepresentationViewSet, basename="representation")
router.register("licenses", LicenseViewSet, basename="license")
router.register("renders", RenderViewSet, basename="render")
router.register("trainings", TrainingViewSet, basename="training")
router.register("me", MeViewSet, basename="me")
router.register("invitations", InvitationViewSet, basename="invitation")
router.register("stories", StoryViewSet, basename="story")

urlpatterns = router.urls
