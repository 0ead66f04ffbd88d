#include "server/service/key_admin_service.h"

#include <utility>

#include "google/protobuf/util/time_util.h"
#include "server/service/identity.h"
#include "server/service/status.h"

namespace sandyq::service {
namespace {

namespace v1 = ::sandyq::v1;

v1::KeyState ToProto(vault::KeyState state) {
  switch (state) {
    case vault::KeyState::kPrimary:
      return v1::KEY_STATE_PRIMARY;
    case vault::KeyState::kActive:
      return v1::KEY_STATE_ACTIVE;
    case vault::KeyState::kRetired:
      return v1::KEY_STATE_RETIRED;
    case vault::KeyState::kDestroyed:
      return v1::KEY_STATE_DESTROYED;
  }
  return v1::KEY_STATE_UNSPECIFIED;
}

}  // namespace

grpc::ServerUnaryReactor* KeyAdminService::RotateKeys(
    grpc::CallbackServerContext* context, const v1::RotateKeysRequest*,
    v1::RotateKeysResponse* response) {
  const UnaryCall call = StartUnary(deps_);
  if (call.refused) return call.reactor;
  grpc::ServerUnaryReactor* reactor = call.reactor;
  deps_.vault->RotateKeys(CallerOf(context, deps_),
                     [reactor, response](absl::StatusOr<uint32_t> version) {
                       if (version.ok()) response->set_primary_version(*version);
                       reactor->Finish(ToGrpcStatus(version.status()));
                     });
  return reactor;
}

grpc::ServerUnaryReactor* KeyAdminService::ListKeys(
    grpc::CallbackServerContext* context, const v1::ListKeysRequest*,
    v1::ListKeysResponse* response) {
  const UnaryCall call = StartUnary(deps_);
  if (call.refused) return call.reactor;
  grpc::ServerUnaryReactor* reactor = call.reactor;
  deps_.vault->ListKeys(
      CallerOf(context, deps_),
      [reactor, response](absl::StatusOr<vault::Vault::KeyListing> listing) {
        if (listing.ok()) {
          for (const vault::KeyInfo& k : listing->keys) {
            v1::KeyInfo* out = response->add_keys();
            out->set_version(k.version);
            out->set_state(ToProto(k.state));
            *out->mutable_created_at() =
                google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
                    absl::ToUnixMicros(k.created));
            out->set_wrapped_deks(static_cast<uint64_t>(std::max<int64_t>(0, k.wrapped_deks)));
          }
          response->set_rewrap_pending(
              static_cast<uint64_t>(std::max<int64_t>(0, listing->rewrap_pending)));
          response->set_master_key(listing->master_key);
        }
        reactor->Finish(ToGrpcStatus(listing.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* KeyAdminService::DestroyKey(
    grpc::CallbackServerContext* context, const v1::DestroyKeyRequest* request,
    v1::DestroyKeyResponse*) {
  const UnaryCall call = StartUnary(deps_);
  if (call.refused) return call.reactor;
  grpc::ServerUnaryReactor* reactor = call.reactor;
  deps_.vault->DestroyKey(CallerOf(context, deps_), request->version(),
                     [reactor](absl::StatusOr<bool> destroyed) {
                       reactor->Finish(ToGrpcStatus(destroyed.status()));
                     });
  return reactor;
}

}  // namespace sandyq::service
