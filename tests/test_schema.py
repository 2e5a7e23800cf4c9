import pytest


@pytest.mark.django_db
def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/applications" in text and "/api/v1/accounts/{account_id}" in text
    assert "tokenAuth" in text
    for v1_1 in ("/api/v1/accounts/{account_id}/repayment-card", "/api/v1/accounts/{account_id}/credit-balance-payouts",
                 "WrittenOff", "recoverable", "recovered"):
        assert v1_1 in text, v1_1
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
