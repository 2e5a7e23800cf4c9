from django.urls import path

from . import payouts, repayments, views

urlpatterns = [
    path("accounts/<str:account_id>/purchases", views.PurchaseCreateView.as_view(), name="purchase-create"),
    path("accounts/<str:account_id>/installments", views.InstallmentListView.as_view(), name="installment-list"),
    path("accounts/<str:account_id>/statements", views.StatementListView.as_view(), name="statement-list"),
    path("accounts/<str:account_id>/payoff-quote", views.PayoffQuoteView.as_view(), name="payoff-quote"),
    path("accounts/<str:account_id>/repayments", repayments.RepaymentCreateView.as_view(), name="repayment-create"),
    path("accounts/<str:account_id>/payment-attempts", repayments.PaymentAttemptListView.as_view(),
         name="payment-attempt-list"),
    path("accounts/<str:account_id>/repayment-card", repayments.RepaymentCardView.as_view(), name="repayment-card"),
    path("accounts/<str:account_id>/credit-balance-payouts", payouts.PayoutListCreateView.as_view(),
         name="credit-balance-payout-list"),
    path("purchases/<str:purchase_id>/refunds", views.RefundCreateView.as_view(), name="refund-create"),
    path("statements/<str:statement_id>/installment-plan", views.BillPlanCreateView.as_view(),
         name="bill-plan-create"),
]
