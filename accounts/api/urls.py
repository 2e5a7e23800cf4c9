from django.urls import path

from .views import CreditAccountDetailView, LimitChangeListView

urlpatterns = [
    path("accounts/<str:account_id>", CreditAccountDetailView.as_view(), name="account-detail"),
    path("accounts/<str:account_id>/limit-changes", LimitChangeListView.as_view(), name="limit-change-list"),
]
