from django.urls import path

from accounts import views

auth_urlpatterns = [
    path("register", views.RegisterView.as_view()),
    path("login", views.LoginView.as_view()),
    path("refresh", views.RefreshView.as_view()),
    path("logout", views.LogoutView.as_view()),
    path("verify", views.VerifyView.as_view()),
    path("forgot-password", views.ForgotPasswordView.as_view()),
    path("reset-password", views.ResetPasswordView.as_view()),
    path("verify-email", views.VerifyEmailView.as_view()),
    path("verify-email/resend", views.ResendVerificationView.as_view()),
    path("firebase", views.FirebaseView.as_view()),
    path("social/complete", views.SocialCompleteView.as_view()),
]

user_urlpatterns = [
    path("profile", views.ProfileView.as_view()),
    path("preferences", views.PreferencesView.as_view()),
    path("stats", views.StatsView.as_view()),
    path("search", views.SearchView.as_view()),
    path("friends", views.FriendsView.as_view()),
    path("friends/requests", views.FriendRequestsView.as_view()),
    path("friends/requests/<str:request_id>", views.FriendRequestDetailView.as_view()),
    path("friends/requests/<str:request_id>/<str:answer>", views.FriendRequestAnswerView.as_view()),
    path("friends/<str:friend_id>", views.FriendDetailView.as_view()),
    path("account", views.AccountView.as_view()),
    path("export", views.ExportView.as_view()),
    path("<str:user_id>", views.PublicProfileView.as_view()),
]

token_urlpatterns = [
    path("", views.TokensView.as_view()),
    path("<str:token_id>", views.TokenDetailView.as_view()),
    path("<str:token_id>/regenerate", views.TokenRegenerateView.as_view()),
]
