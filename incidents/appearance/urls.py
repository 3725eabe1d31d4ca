from django.urls import path

from incidents.appearance import views

urlpatterns = [
    path("logo/<str:name>", views.logo, name="page-logo"),
    path("look/<str:digest>.css", views.look, name="page-look"),
]
