"""Reports: the versioned report.json (model, store, schema) and its views (Markdown, HTML, JUnit).

Entry points: `model.Report`, `store.write_report/read_report`, `render.render_views`,
`build.up_phase/teardown_phase/report_from_pipeline`, and `step.ReportStep` for `stagectl run`.
"""
