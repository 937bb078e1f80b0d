from django.contrib.auth.backends import ModelBackend

from accounts.models import User


class EmailBackend(ModelBackend):
    """Email login, case-insensitive."""

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        login = (email or username or kwargs.get(User.USERNAME_FIELD) or "").strip()
        if not login or password is None:
            return None
        try:
            user = User.objects.get(email__iexact=login)
        except User.DoesNotExist:
            User().set_password(password)  # same cost as a real check: no timing oracle
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
