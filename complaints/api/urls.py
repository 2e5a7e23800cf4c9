from django.urls import path

from . import views

urlpatterns = [
    path("complaints", views.ComplaintCreateView.as_view(), name="complaint-create"),
    path("complaints/<str:complaint_id>", views.ComplaintDetailView.as_view(), name="complaint-detail"),
    path("accounts/<str:account_id>/closure-requests", views.ClosureRequestCreateView.as_view(),
         name="closure-request-create"),
    path("closure-requests/<str:request_id>", views.ClosureRequestDetailView.as_view(),
         name="closure-request-detail"),
]
