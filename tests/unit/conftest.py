import pytest
from tf_retainer.runtime.settings import Settings


@pytest.fixture
def settings() -> Settings:
    return Settings(table_name="leads", retry_queue_url="http://queue", trustedform_secret_id="secret")
