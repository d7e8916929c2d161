"""Public documents: print templates and WeasyPrint rendering of disclosures and S&T reports,
their publication (exactly once per kind, programme and period), and the content guard.

- ``documents.disclosure_pdf`` / ``documents.st_report_pdf``: a document's PDF.
- ``publish.publish_disclosure`` / ``publish.publish_reports``: render, check with the content
  guard, write to the publication directory (PDFs, manifest, index, Atom feed) and record.
- ``submit.submit_pending``: deliver published documents to the S&T reporting system.
- ``render.AssetFetcher``: the only resources a document may load are this package's assets.
"""
