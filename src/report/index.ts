/**
 * The run report (report.html): data collected from a run's stage files
 * (data.ts), SVG figures (svg.ts) and the self-contained page (html.ts).
 * See docs/report.md.
 */
export {
  collectReportData,
  filterOfWedges,
  isAbsent,
  radialAverage,
  scaleView,
  slicesOfGrid,
  type Absent,
  type AbsoluteData,
  type CchalfData,
  type CchalfShells,
  type FilterData,
  type MapGrid,
  type Part,
  type RadialProfile,
  type ReportData,
  type ReportInputs,
  type ReportMapInput,
  type ReportOptions,
  type ReportSlice,
  type ReportSummary,
  type ScaleData,
  type SliceSet,
  type StillsData,
  type StillsShot,
  type SweepFilter,
} from './data.ts';
export { renderReport, writeReport } from './html.ts';
export { barPlot, escapeXml, formatNumber, heatMap, linePlot, niceNumber, niceTicks, pngDataUri, type AxisTicks, type BarPlotSpec, type HeatMapSpec, type LinePlotSpec, type LineSeries, type MarkerLine } from './svg.ts';
