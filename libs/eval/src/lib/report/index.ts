export * from './example-map.ts';
export { CHART_MARKS, reportCharts } from './report-charts.ts';
export { faithfulnessPointsMark } from './report-faithfulness.ts';
export { RESEARCH_USE_NOTICE, renderReportHtml, type ReportHtmlOptions } from './report-html.ts';
