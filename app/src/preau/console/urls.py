from django.urls import path

from preau.console import views

# The platform operators' console (ADMC only: views.operator_required), global like the login.
urlpatterns = [
    path("", views.establishments, name="console"),
    path("operations/<int:operation_id>/", views.operation, name="console_operation"),
    path("comptes/", views.accounts, name="console_accounts"),
    path("comptes/<int:user_id>/", views.account, name="console_account"),
    path("statistiques/", views.statistics, name="console_stats"),
    path("statistiques/export.csv", views.statistics_csv, name="console_stats_csv"),
]
