export * from './lib/errors.ts';
export * from './lib/gli-dlco-table.ts';
export * from './lib/gli-dlco.ts';
export * from './lib/haemoglobin.ts';
export * from './lib/lms.ts';
export { GLI_2017_DLCO_TABLE } from './generated/gli-2017-tlco.ts';
