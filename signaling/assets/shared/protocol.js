// @ts-check
// The wire formats the pages speak, as JSDoc types for the type check (signaling/tsconfig.json,
// `tsc --noEmit`). Nothing here runs: the module exports no values, and the pages never import
// it at run time, only in type annotations (`@typedef {import('../shared/protocol.js').X} X`).
//
// docs/signaling.md §2 (the participants' call socket `/ws`), §5.1 (the customer's queue socket
// `/ws/queue`, signaling/src/hub.rs `CustomerMsg`) and docs/api.md (the REST answers).

// ---------------------------------------------------------------------------------------------
// The call socket `/ws` (docs/signaling.md §2)

/** @typedef {'customer' | 'agent'} Role */

/**
 * @typedef {object} IceServer
 * @property {string | string[]} urls
 * @property {string} [username]
 * @property {string} [credential]
 */

/**
 * Client → server.
 * @typedef {{ type: 'join', token: string }
 *   | { type: 'offer', sdp: string }
 *   | { type: 'candidate', candidate: string, sdpMid: string | null, sdpMLineIndex: number | null }
 *   | { type: 'leave' }
 *   | { type: 'end_call', reason?: string }
 *   | { type: 'ping' }} ClientMsg
 */

/**
 * @typedef {object} JoinedMsg
 * @property {'joined'} type
 * @property {string} call_id
 * @property {Role} role
 * @property {IceServer[]} ice_servers
 * @property {boolean} peer_present
 */

/**
 * A fatal error closes the socket. Codes (§2.3): bad_json, unknown_type, bad_message,
 * message_too_large, binary_not_supported, join_timeout, not_joined, already_joined,
 * invalid_token, token_in_use, call_ended, link_expired, sdp_too_large, bad_sdp,
 * already_negotiated, bad_candidate, forbidden, rate_limited, media_unavailable.
 * @typedef {object} ErrorMsg
 * @property {'error'} type
 * @property {string} code
 * @property {string} message
 * @property {boolean} fatal
 */

/**
 * Server → client.
 * @typedef {JoinedMsg
 *   | { type: 'answer', sdp: string }
 *   | { type: 'candidate', candidate: string, sdpMid: string | null, sdpMLineIndex: number | null }
 *   | { type: 'peer', event: 'joined' | 'connected' | 'left' }
 *   | { type: 'call_ended', reason: string }
 *   | { type: 'pong' }
 *   | ErrorMsg} ServerMsg
 */

// ---------------------------------------------------------------------------------------------
// The customer's queue socket `/ws/queue` (docs/signaling.md §5.1)

/**
 * Client → server.
 * @typedef {{ type: 'queue', token: string, rejoin_token?: string } | { type: 'ping' }} QueueClientMsg
 */

/**
 * @typedef {object} QueuePlaceMsg
 * @property {'queue'} type
 * @property {number} position 1 = next
 * @property {number | null} estimated_wait_secs null while no agent is on duty
 */

/**
 * An agent took the customer: join the call on `<media_url>/ws` (scale-out) or on this server.
 * @typedef {object} CallReadyMsg
 * @property {'call_ready'} type
 * @property {string} call_id
 * @property {string} token
 * @property {string} [media_url]
 */

/**
 * @typedef {object} ResultMsg
 * @property {'result'} type
 * @property {'approved' | 'rejected' | 'aborted' | 'cancelled'} state
 * @property {string | null} redirect_url approved: the e-signing URL
 * @property {string | null} message
 * @property {number} retries_left
 */

/**
 * Server → client (hub.rs `CustomerMsg`).
 * @typedef {QueuePlaceMsg
 *   | CallReadyMsg
 *   | { type: 'instruction', text: string }
 *   | ResultMsg
 *   | { type: 'requeued', message: string }
 *   | { type: 'pong' }
 *   | ErrorMsg} CustomerMsg
 */

// ---------------------------------------------------------------------------------------------
// REST answers the pages read (docs/api.md)

/**
 * Every error answer: `{error, message}` plus fields of its own (e.g. `next_opening`).
 * @typedef {{ error: string, message: string, [field: string]: unknown }} ApiErrorBody
 */

/**
 * @typedef {object} Hours
 * @property {boolean} open_now
 * @property {string | null} closes_at
 * @property {string | null} next_opening
 */

/**
 * `GET /api/v1/customer`.
 * @typedef {object} CustomerView
 * @property {string} case_id
 * @property {string} state
 * @property {string} expires_at
 * @property {string} language
 * @property {boolean} photo_uploaded
 * @property {boolean} data_confirmed
 * @property {number} retries_left
 * @property {boolean} final
 * @property {Hours} hours
 * @property {{ position: number, estimated_wait_secs: number | null, connected: boolean } | null} queue
 * @property {string | null} message
 * @property {string | null} redirect_url
 */

/**
 * `POST /api/v1/customer/queue`.
 * @typedef {object} QueueJoined
 * @property {number} position
 * @property {number | null} estimated_wait_secs
 * @property {string} rejoin_token
 */

/**
 * `POST /api/v1/customer/confirm`.
 * @typedef {object} ConfirmAnswer
 * @property {string} state
 * @property {boolean} matches
 * @property {string[]} differences in the customer's language
 */

/**
 * @typedef {object} StaffUser
 * @property {string} id
 * @property {string} username
 * @property {string} role agent | supervisor | compliance | admin
 */

/**
 * `GET /api/v1/session` (and `POST`, which adds `expires_at`).
 * @typedef {{ user: StaffUser, expires_at?: string }} Session
 */

/**
 * The call part of `POST /api/v1/agent/take`: `media_url` null in the one-machine mode.
 * @typedef {object} TakeCall
 * @property {string} call_id
 * @property {string} token
 * @property {string} link
 * @property {string | null} media_url
 */

/**
 * `POST /api/v1/agent/take` (`204`, i.e. `null`, when nobody waits). `case` is the full case
 * (`GET /api/v1/cases/{id}` with a staff cookie).
 * @typedef {object} TakeAnswer
 * @property {{ id: string, [field: string]: any }} case
 * @property {TakeCall} call
 * @property {any[]} questions
 */

export {};
