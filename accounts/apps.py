from django.apps import AppConfig

from deepiri.api.times import iso_utc


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self):
        import deepiri.api.schema  # noqa: F401  (OpenAPI extensions for our auth classes)
        from deepiri import exports

        def export_account(user):
            return {
                "friends": list(user.friends.values_list("id", flat=True)),
                "last_login": iso_utc(user.last_login),
                "social_accounts": list(user.socialaccount_set.values("provider", "uid", "date_joined")),
            }

        exports.register("account", export_account)

        from accounts import auth_cache

        auth_cache.connect()
