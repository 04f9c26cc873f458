export interface CurveSeries {
  name: string
  points: Array<[number, number]>
  /** Dashed line, e.g. the train curve beside the validation one. */
  dashed?: boolean
  /** Draw a marker at every point (epoch curves with few points). */
  markers?: boolean
}
