// First, for its side effect (a side-effect import also keeps the imports below from being sorted above it).
import './pg-navigator.ts';
import pg from 'pg';
import { removeLoadNavigator } from './pg-navigator.ts';

/**
 * The pg driver, for every module of src/ (biome.json forbids importing 'pg' anywhere else): loaded
 * with a `navigator` defined (`pg-navigator.ts`, evaluated just before pg), removed again once pg
 * has loaded. Done once where the driver is loaded rather than around one caller's import: any
 * module that reaches pg first (the export's COPY helpers do, through `query-script.ts`) would
 * otherwise load it unguarded (docs/performance/export.md, "The driver's load"). A static import,
 * so that the bundle (bin/bundle.js) holds pg too.
 */
removeLoadNavigator();

export default pg;
