from django.urls import path

from .views import CreditAccountDetailView

urlpatterns = [
    path("accounts/<str:account_id>", CreditAccountDetailView.as_view(), name="account-detail"),
]
