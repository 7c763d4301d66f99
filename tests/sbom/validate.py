"""Validates an SBOM with the reference libraries: `cdx FILE` (cyclonedx-python-lib's strict
CycloneDX 1.5 JSON schema validator) or `spdx FILE` (spdx-tools: parse, then validate the whole
SPDX 2.3 document, what `pyspdxtools -i FILE` does; the CLI exits 0 even on an invalid document,
so its library is asked directly). Exit 0 and `valid` only when there is no issue."""
import sys

kind, path = sys.argv[1], sys.argv[2]
if kind == "cdx":
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    with open(path) as f:
        error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(f.read())
    issues = [str(error)] if error else []
elif kind == "spdx":
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    doc = parse_file(path)
    issues = [m.validation_message for m in validate_full_spdx_document(doc, "SPDX-2.3")]
else:
    sys.exit(f"usage: validate.py cdx|spdx FILE (not {kind!r})")
for i in issues:
    print(i)
if issues:
    sys.exit(1)
print("valid")
