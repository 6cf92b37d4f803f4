"""Page script for st.navigation (a file, so AppTest.switch_page can open it)."""
from dashboard.views import sweep

sweep.page()
