from allauth.account import views as account_views
from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts import views as account_signup_views
from bespoke import views
from bespoke.portal import views as portal_views
from generation import verify_views

# The admin signs in through allauth too (verified email, MFA), never through its own form.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("", portal_views.home, name="home"),
    path("", include("bespoke.portal.urls")),
    path("healthz", views.health, name="health"),
    # The portal's templates link to "login" and "logout"; allauth serves both.
    path("accounts/login/", account_views.login, name="login"),
    path("accounts/logout/", account_views.logout, name="logout"),
    # allauth's sign-up, making the account and its viewer profile in one transaction.
    path("accounts/signup/", account_signup_views.signup, name="account_signup"),
    path("accounts/", include("allauth.urls")),
    path("verify/", verify_views.verify_upload, name="verify"),
    path("verify/consent/<str:license_id>", verify_views.consent_status_view, name="consent-status"),
    path("verify/watermark/<int:watermark_id>", verify_views.watermark_status_view, name="watermark-status"),
    path("api/v1/", include("bespoke.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("admin/", admin.site.urls),
]

# API clients get the API's error body for these too; people get the product's pages
# (templates/404.html, 403.html, 429.html, 500.html), in development too (bespoke.error_pages).
handler403 = "bespoke.error_pages.permission_denied"
handler404 = "core.api.errors.not_found"
handler500 = "core.api.errors.server_error"
# allauth answers its own rate limits (sign-in, sign-up) with this one.
handler429 = "core.ratelimit.too_many_requests"
