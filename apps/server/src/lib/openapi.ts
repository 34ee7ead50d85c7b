import { METADATA_FIELDS } from './metadata.ts';

const ERROR = { $ref: '#/components/schemas/Error' };

function errorResponse(description: string) {
  return { description, content: { 'application/json': { schema: ERROR } } };
}

/** Responses of every `/v1` operation, which need `Authorization: Bearer KEY`. */
const AUTH_ERRORS = {
  401: errorResponse('Missing API key (UNAUTHORIZED)'),
  403: errorResponse('Invalid API key or Authorization value (FORBIDDEN)'),
};

/** Values of the form fields that take one of a fixed set of words. */
const FIELD_ENUMS: Record<string, string[]> = {
  sex: ['M', 'F'],
  smoking: ['never', 'former', 'current'],
};

const JOB_ID = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', format: 'uuid' },
};

function fileRoute(operationId: string, summary: string, mediaType: string) {
  return {
    get: {
      operationId,
      summary,
      parameters: [JOB_ID],
      responses: {
        200: { description: summary, content: { [mediaType]: {} } },
        ...AUTH_ERRORS,
        404: errorResponse('No such job, or a job of another API key (NOT_FOUND)'),
        409: errorResponse(
          'The job is queued or running (JOB_NOT_DONE), or failed (JOB_FAILED); the job ' +
            'state names its error code',
        ),
      },
    },
  };
}

function htmlPage(operationId: string, summary: string) {
  return {
    get: {
      operationId,
      summary,
      security: [],
      responses: { 200: { description: 'HTML page', content: { 'text/html': {} } } },
    },
  };
}

const metadataProperties = Object.fromEntries(
  Object.entries(METADATA_FIELDS).map(([name, unit]) => [
    name,
    FIELD_ENUMS[name] === undefined
      ? { type: 'string', description: `${name} (${unit})` }
      : { type: 'string', enum: FIELD_ENUMS[name], description: `${name} (${unit})` },
  ]),
);

/** OpenAPI 3.1 description of every route the server mounts. */
export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'dlco-ct',
    version: '0.1.0',
    description:
      'Estimates lung DLCO (ml/min/mmHg) from chest CT with regional maps. Research use, not ' +
      'diagnosis.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: {
              code: { type: 'string', examples: ['METADATA_INVALID', 'INPUT_CORRUPT'] },
              message: { type: 'string' },
              details: { type: 'object' },
            },
          },
        },
      },
      Job: {
        type: 'object',
        required: ['id', 'state', 'createdAt'],
        properties: {
          id: { type: 'string', format: 'uuid' },
          state: { enum: ['queued', 'running', 'done', 'failed'] },
          createdAt: { type: 'string', format: 'date-time' },
          startedAt: { type: ['string', 'null'], format: 'date-time' },
          finishedAt: { type: ['string', 'null'], format: 'date-time' },
          result: { type: 'object', description: 'result.json of `dlco predict`, when done' },
          error: { $ref: '#/components/schemas/Error/properties/error' },
          errorStatus: {
            type: 'integer',
            description: 'HTTP status of the failure: 422 for a rejected scan, 500 otherwise',
          },
        },
      },
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/healthz': {
      get: {
        operationId: 'getHealth',
        summary: 'Liveness',
        security: [],
        responses: { 200: { description: 'Alive' } },
      },
    },
    '/readyz': {
      get: {
        operationId: 'getReadiness',
        summary: 'Readiness: the model is loaded',
        security: [],
        responses: { 200: { description: 'Ready' }, 503: errorResponse('Model not loaded') },
      },
    },
    '/metrics': {
      get: {
        operationId: 'getMetrics',
        summary: 'Prometheus metrics: requests by route and status, jobs by state, queue depth',
        security: [],
        responses: { 200: { description: 'Text format 0.0.4', content: { 'text/plain': {} } } },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'getOpenApiDocument',
        summary: 'This document',
        security: [],
        responses: { 200: { description: 'OK' } },
      },
    },
    '/': {
      get: {
        operationId: 'redirectToViewer',
        summary: 'Redirect to /viewer',
        security: [],
        responses: {
          302: {
            description: 'Found; Location is /viewer',
            headers: { Location: { schema: { type: 'string', const: '/viewer' } } },
          },
        },
      },
    },
    '/viewer': htmlPage(
      'getViewerPage',
      'Clinician viewer: upload a scan, see the estimate and the map on the CT',
    ),
    '/docs': htmlPage('getDocsPage', 'This document, rendered by Swagger UI'),
    '/assets/{name}': {
      get: {
        operationId: 'getAsset',
        summary: 'Scripts and styles of /viewer and /docs, with the NiiVue and Swagger UI bundles',
        security: [],
        parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { 200: { description: 'The file' }, 404: errorResponse('No such asset') },
      },
    },
    '/v1/predictions': {
      post: {
        operationId: 'createPrediction',
        summary: 'Queue a prediction for an uploaded scan',
        requestBody: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: {
                type: 'object',
                required: ['scan', 'age', 'sex', 'height', 'weight'],
                properties: {
                  scan: {
                    description:
                      'NIfTI, NRRD, MetaImage (.mha), a .zip of a DICOM series, several ' +
                      'DICOM files of one series, or a .nhdr or .mhd header with the data ' +
                      'file it names (the part whose file name matches); recognised by content',
                    type: 'array',
                    items: { type: 'string', contentMediaType: 'application/octet-stream' },
                  },
                  ...metadataProperties,
                },
              },
            },
          },
        },
        responses: {
          202: {
            description: 'Queued; Location names the job',
            headers: { Location: { schema: { type: 'string' } } },
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Job' } } },
          },
          400: errorResponse(
            'Missing metadata, invalid multipart body, unknown or repeated field, invalid or ' +
              'duplicate file name, or a header whose data file is not a sent part',
          ),
          ...AUTH_ERRORS,
          408: errorResponse('Upload body paused or took too long (UPLOAD_TIMEOUT)'),
          413: errorResponse('Upload too large (UPLOAD_TOO_LARGE)'),
          415: errorResponse('Not a supported scan file (UPLOAD_TYPE_UNSUPPORTED)'),
          422: errorResponse(
            'Metadata out of range (METADATA_INVALID), a .zip rejected from its directory ' +
              '(ZIP_INVALID, INPUT_TOO_LARGE), or a volume file rejected from its header or ' +
              'gzip stream (INPUT_NOT_3D, INPUT_TOO_LARGE, INPUT_CORRUPT)',
          ),
          503: errorResponse('Queue full (QUEUE_FULL), with Retry-After'),
        },
      },
    },
    '/v1/predictions/{id}': {
      get: {
        operationId: 'getPrediction',
        summary: 'Job state, with the result when done or the error when failed',
        parameters: [JOB_ID],
        responses: {
          200: {
            description: 'The job',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Job' } } },
          },
          ...AUTH_ERRORS,
          404: errorResponse('No such job, or a job of another API key (NOT_FOUND)'),
        },
      },
      delete: {
        operationId: 'deletePrediction',
        summary: 'Delete a job that is not running, with its files',
        parameters: [JOB_ID],
        responses: {
          204: { description: 'Deleted' },
          ...AUTH_ERRORS,
          404: errorResponse('No such job, or a job of another API key (NOT_FOUND)'),
          409: errorResponse('The job is running (JOB_RUNNING)'),
        },
      },
    },
    '/v1/predictions/{id}/map.nii.gz': fileRoute(
      'getPredictionMap',
      'Deficit or contribution map',
      'application/gzip',
    ),
    '/v1/predictions/{id}/lung-mask.nii.gz': fileRoute(
      'getPredictionLungMask',
      'Lung mask',
      'application/gzip',
    ),
    '/v1/predictions/{id}/overlay.png': fileRoute(
      'getPredictionOverlay',
      'Overlay image',
      'image/png',
    ),
    '/v1/predictions/{id}/scan.nii.gz': fileRoute(
      'getPredictionScan',
      'CT as read, int16 HU on the grid of map.nii.gz, without patient identifiers',
      'application/gzip',
    ),
  },
} as const;
