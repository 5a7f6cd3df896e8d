from django.contrib import admin
from django.urls import path

import outbox.views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics/", outbox.views.metrics, name="metrics"),
]
