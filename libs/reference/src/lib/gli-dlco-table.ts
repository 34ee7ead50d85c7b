/** Sex as the GLI equations use it: `M` male, `F` female. */
export type Sex = 'M' | 'F';

/** Closed interval of valid input values. */
export interface ValidRange {
  readonly min: number;
  readonly max: number;
}

/** Coefficients of one sex in the GLI 2017 DLCO LMS equations (ml/min/mmHg, years, cm). */
export interface GliDlcoCoefficients {
  readonly a0: number;
  readonly a1: number;
  readonly a2: number;
  readonly p0: number;
  readonly p1: number;
  readonly q0: number;
}

/** Spline values of one sex, one value for each entry of `splineAgesYears`. */
export interface GliDlcoSplines {
  readonly mSpline: readonly number[];
  readonly sSpline: readonly number[];
  readonly lSpline: readonly number[];
}

/**
 * GLI 2017 DLCO reference table, written by `scripts/generate-gli-tlco.py` into
 * `src/generated/gli-2017-tlco.ts` and `data/gli-2017-tlco.json`.
 */
export interface GliDlcoTable {
  /** Package and version the numbers were read from. */
  readonly source: string;
  readonly ageRangeYears: ValidRange;
  readonly heightRangeCm: ValidRange;
  /** Ages of the spline rows in years, evenly spaced. */
  readonly splineAgesYears: readonly number[];
  readonly sexes: Readonly<
    Record<Sex, { coefficients: GliDlcoCoefficients; splines: GliDlcoSplines }>
  >;
}
