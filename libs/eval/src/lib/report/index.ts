export * from './example-map.ts';
export { CHART_MARKS, reportCharts } from './report-charts.ts';
export { FAITHFULNESS_POINTS_MARK } from './report-faithfulness.ts';
export { RESEARCH_USE_NOTICE, renderReportHtml, type ReportHtmlOptions } from './report-html.ts';
