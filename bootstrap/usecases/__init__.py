"""The use cases: everything a user can ask of qrun, in one place. The CLI, the HTTP API
and a library user's code all call these (through `App`, which is built of them), and
none of those entry points touches a store or holds a copy of a rule."""
