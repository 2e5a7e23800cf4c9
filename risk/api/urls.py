from django.urls import path

from .views import ApplicationCreateView, ApplicationDetailView

urlpatterns = [
    path("applications", ApplicationCreateView.as_view(), name="application-create"),
    path("applications/<str:application_id>", ApplicationDetailView.as_view(), name="application-detail"),
]
