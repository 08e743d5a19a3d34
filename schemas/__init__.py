"""marshmallow schemas, one module per resource. Allow-lists: a field not
declared is an error (marshmallow's default `unknown=RAISE`)."""
