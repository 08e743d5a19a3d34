"""The one error shape, for the OpenAPI document."""
from marshmallow import Schema, fields


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"example": "invalid_fields"})
    message = fields.String(required=True)
    field_messages = fields.Dict(data_key="fields", metadata={"description": "Per-field messages"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)
