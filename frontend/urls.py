from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from frontend.views import PortalLoginView, portal

urlpatterns = [
    path("login/", PortalLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="/login/"), name="logout"),
    # Client-side routes of the portal all serve the same application shell.
    re_path(r"^(?:patients|studies|reports|dashboard|consultations|audit|cxr-intake)?(?:/.*)?$", portal, name="portal"),
]
