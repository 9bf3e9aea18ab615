from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from frontend.views import portal

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="frontend/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="/login/"), name="logout"),
    # Client-side routes of the portal all serve the same application shell.
    re_path(r"^(?:patients|studies|reports|dashboard|consultations|audit)?(?:/.*)?$", portal, name="portal"),
]
