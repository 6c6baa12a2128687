from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from bespoke import views
from provenance import views as provenance_views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.health, name="health"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("verify/", provenance_views.verify_upload, name="verify"),
    path("verify/consent/<str:license_id>", provenance_views.consent_status_view, name="consent-status"),
    path("admin/", admin.site.urls),
]
