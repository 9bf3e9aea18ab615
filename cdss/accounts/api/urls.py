from django.urls import path

from cdss.accounts.api.views import CsrfApi, MeApi, SessionLoginApi, SessionLogoutApi, TokenObtainApi

urlpatterns = [
    path("auth/csrf/", CsrfApi.as_view(), name="auth-csrf"),
    path("auth/login/", SessionLoginApi.as_view(), name="auth-login"),
    path("auth/logout/", SessionLogoutApi.as_view(), name="auth-logout"),
    path("auth/me/", MeApi.as_view(), name="auth-me"),
    path("auth/token/", TokenObtainApi.as_view(), name="auth-token"),
]
